//! The sharded deployment measured: PolicyQA-NL's 400 contexts plus 1,000 nl-laws
//! paragraphs, as one collection and split into 2 and into 3 shards, each served by its
//! own `zoek serve` process on 127.0.0.1, with a `zoek serve --shards` root in front.
//!
//! ```sh
//! cargo build --release && cargo run --release --example shards -- [--questions 400] [--work DIR]
//! ```
//! Needs the model (`models/fetch`) and `$ZOEK_SHARED` (default `../shared`). Prints, for
//! exact search: how many of the questions get the same top-10 documents, in the same
//! order, with scores within 1e-5, through the root over 2 and 3 shards as from the one
//! collection; latency p50/p95 of asking the collection directly and through a root over
//! 1, 2 and 3 shards (interleaved, same run); what a killed leaf gives. Then the same
//! collections with HNSW graphs: the recall@10 of the sharded answer against the single.
//!
//! Shards are contiguous ranges of the input, so ties break in the same order as in the
//! one collection. Every text is embedded once and its vector reused by every build (a
//! cache in front of the model), so the builds hold identical vectors and the comparison
//! measures the distribution alone.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zoek_query::text::ingest::RawDocument;
use zoek_query::{
    BuildOptions, CollectionWriter, Engine, LatePassage, LateVectors, Result as QResult,
    TextEmbedder,
};

type Error = Box<dyn std::error::Error>;

/// The model with a cache: each distinct text is embedded once.
struct Cached {
    inner: Engine,
    cache: Mutex<HashMap<String, Vec<f32>>>,
}

impl TextEmbedder for Cached {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn embed_query(&self, text: &str) -> QResult<Vec<f32>> {
        self.inner.embedder().embed_query(text)
    }
    fn embed_passages(&self, texts: &[&str]) -> QResult<Vec<Vec<f32>>> {
        let missing: Vec<&str> = {
            let cache = self.cache.lock().unwrap();
            let mut m: Vec<&str> = texts
                .iter()
                .copied()
                .filter(|t| !cache.contains_key(*t))
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        if !missing.is_empty() {
            let vectors = self.inner.embedder().embed_passages(&missing)?;
            let mut cache = self.cache.lock().unwrap();
            for (t, v) in missing.iter().zip(vectors) {
                cache.insert(t.to_string(), v);
            }
        }
        let cache = self.cache.lock().unwrap();
        Ok(texts.iter().map(|t| cache[*t].clone()).collect())
    }
    fn count_tokens(&self, text: &str) -> QResult<usize> {
        self.inner.embedder().count_tokens(text)
    }
    fn embed_late(&self, passages: &[LatePassage<'_>]) -> QResult<Vec<LateVectors>> {
        self.inner.embedder().embed_late(passages)
    }
}

/// The documents, and each question with the id of the context that answers it.
type Corpus = (Vec<RawDocument>, Vec<(String, String)>);

fn documents(shared: &Path) -> Result<Corpus, Error> {
    let qa: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        shared.join("data/policyqa-nl/policyqa-train.json"),
    )?)?;
    let mut docs = Vec::new();
    let mut questions = Vec::new();
    for (i, page) in qa["data"].as_array().ok_or("no data")?.iter().enumerate() {
        for (j, p) in page["paragraphs"]
            .as_array()
            .ok_or("no paragraphs")?
            .iter()
            .enumerate()
        {
            let id = format!("policyqa-{i}-{j}");
            let text = p["context"].as_str().ok_or("no context")?;
            docs.push(RawDocument::from_text(&id, text, Default::default()));
            for qa in p["qas"].as_array().into_iter().flatten() {
                if let Some(q) = qa["question"].as_str() {
                    questions.push((q.to_string(), id.clone()));
                }
            }
        }
    }
    let laws = std::fs::File::open(shared.join("data/nl-laws/nl_laws_paragraphs.jsonl"))?;
    for line in BufReader::new(laws).lines().take(1000) {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let (Some(id), Some(text)) = (v["id"].as_str(), v["text"].as_str()) else {
            continue;
        };
        docs.push(RawDocument::from_text(id, text, Default::default()));
    }
    Ok((docs, questions))
}

fn build(dir: &Path, engine: &Engine, docs: &[RawDocument], hnsw: bool) -> Result<(), Error> {
    if dir.join("manifest.json").is_file() {
        return Ok(());
    }
    let opts = BuildOptions {
        // Exact: never a graph; HNSW: every segment of 1,024 sentences or more gets one.
        hnsw_threshold: if hnsw { 1024 } else { usize::MAX },
        ..BuildOptions::default()
    };
    let tmp = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let mut w = CollectionWriter::open(&tmp, engine, &opts)?;
    w.add_documents(docs.to_vec())?;
    w.commit()?;
    drop(w);
    std::fs::rename(&tmp, dir)?;
    Ok(())
}

/// A `zoek serve` process and the address it bound.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(zoek: &Path, args: &[&str]) -> Result<Server, Error> {
    let mut child = Command::new(zoek)
        .arg("--quiet")
        .arg("serve")
        .args(args)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().ok_or("zoek serve exited")??;
        // "zoek: serving … on http://ADDR/ …" or "zoek: root over … on http://ADDR/ …"
        if let Some(at) = line.split(" on http://").nth(1) {
            break format!("http://{}", at.split('/').next().unwrap_or_default());
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, url })
}

fn ask(
    agent: &ureq::Agent,
    url: &str,
    q: &str,
    partial: bool,
) -> Result<(u16, serde_json::Value), Error> {
    let mut r = agent
        .post(format!("{url}/ask"))
        .header("Content-Type", "application/json")
        .send_json(serde_json::json!({"question": q, "k": 10, "partial": partial}))?;
    let status = r.status().as_u16();
    Ok((status, r.body_mut().read_json()?))
}

fn top(v: &serde_json::Value) -> Vec<(String, f64)> {
    v["hits"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (
                        h["doc"].as_str().unwrap_or("").to_string(),
                        h["score"].as_f64().unwrap_or(f64::NAN),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn roots(
    zoek: &Path,
    work: &Path,
    name: &str,
    shard_dirs: &[Vec<PathBuf>],
) -> Result<(Vec<Server>, Vec<Server>), Error> {
    let mut leaves = Vec::new();
    let mut roots = Vec::new();
    for (n, dirs) in shard_dirs.iter().enumerate() {
        let mut urls = Vec::new();
        for d in dirs {
            let s = start(zoek, &["--index", &d.to_string_lossy()])?;
            urls.push(s.url.clone());
            leaves.push(s);
        }
        let file = work.join(format!("{name}-{n}.json"));
        std::fs::write(&file, serde_json::to_string(&urls)?)?;
        roots.push(start(
            zoek,
            &[
                "--shards",
                &file.to_string_lossy(),
                "--shard-timeout-ms",
                "2000",
            ],
        )?);
    }
    Ok((leaves, roots))
}

fn main() -> Result<(), Error> {
    let (mut limit, mut work) = (400usize, PathBuf::from("target/shards-eval"));
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--questions" => limit = args.next().ok_or("--questions N")?.parse()?,
            "--work" => work = args.next().ok_or("--work DIR")?.into(),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let shared = PathBuf::from(std::env::var("ZOEK_SHARED").unwrap_or_else(|_| "../shared".into()));
    let target =
        PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()));
    let zoek = std::fs::canonicalize(target.join("release/zoek"))?;
    std::fs::create_dir_all(&work)?;
    let work = std::fs::canonicalize(&work)?;
    let (docs, mut questions) = documents(&shared)?;
    questions.truncate(limit);
    let engine = Engine::new(Cached {
        inner: Engine::from_default_model()?,
        cache: Mutex::new(HashMap::new()),
    });
    let started = Instant::now();
    let mut layouts: Vec<(String, Vec<Vec<PathBuf>>)> = Vec::new();
    for hnsw in [false, true] {
        let kind = if hnsw { "hnsw" } else { "exact" };
        let mut sets = Vec::new();
        for n in 1..=3usize {
            let per = docs.len().div_ceil(n);
            let mut dirs = Vec::new();
            for (i, chunk) in docs.chunks(per).enumerate() {
                let dir = work.join(format!("{kind}-{n}-{i}"));
                build(&dir, &engine, chunk, hnsw)?;
                dirs.push(dir);
            }
            sets.push(dirs);
        }
        layouts.push((kind.to_string(), sets));
    }
    println!(
        "{} documents, {} questions; builds ready in {:.0} s",
        docs.len(),
        questions.len(),
        started.elapsed().as_secs_f64()
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    for (kind, sets) in &layouts {
        let direct = start(&zoek, &["--index", &sets[0][0].to_string_lossy()])?;
        let (mut leaves, roots) = roots(&zoek, &work, kind, sets)?;
        let mut lat: Vec<Vec<f64>> = vec![Vec::new(); 4];
        let (mut same, mut overlap) = ([0usize; 3], [0usize; 3]);
        let mut worst = [0f64; 3];
        for (q, _) in &questions {
            let t = Instant::now();
            let (_, one) = ask(&agent, &direct.url, q, false)?;
            lat[0].push(t.elapsed().as_secs_f64() * 1e3);
            let one = top(&one);
            for (n, root) in roots.iter().enumerate() {
                let t = Instant::now();
                let (status, got) = ask(&agent, &root.url, q, false)?;
                lat[n + 1].push(t.elapsed().as_secs_f64() * 1e3);
                if status != 200 {
                    return Err(format!("root over {} shards: {status} {got}", n + 1).into());
                }
                let got = top(&got);
                let docs_equal =
                    one.len() == got.len() && one.iter().zip(&got).all(|(a, b)| a.0 == b.0);
                let diff = one
                    .iter()
                    .zip(&got)
                    .map(|(a, b)| (a.1 - b.1).abs())
                    .fold(0.0, f64::max);
                if docs_equal && diff <= 1e-5 {
                    same[n] += 1;
                }
                worst[n] = worst[n].max(diff);
                overlap[n] += got
                    .iter()
                    .filter(|g| one.iter().any(|o| o.0 == g.0))
                    .count();
            }
        }
        let total = questions.len();
        println!("\n## {kind} search, {total} questions, k = 10");
        println!(
            "| shards | same top-10, order, scores ±1e-5 | recall@10 vs one collection | largest score difference |"
        );
        println!("|---|---|---|---|");
        for n in 0..3 {
            println!(
                "| {} | {}/{total} | {:.4} | {:.2e} |",
                n + 1,
                same[n],
                overlap[n] as f64 / (10 * total) as f64,
                worst[n]
            );
        }
        println!("\n| asked | p50 ms | p95 ms |");
        println!("|---|---|---|");
        for (i, name) in [
            "the collection directly",
            "root, 1 shard",
            "root, 2 shards",
            "root, 3 shards",
        ]
        .iter()
        .enumerate()
        {
            let p50 = percentile(&mut lat[i], 0.5);
            let p95 = percentile(&mut lat[i], 0.95);
            println!("| {name} | {p50:.2} | {p95:.2} |");
        }
        if kind == "exact" {
            // Kill the second leaf of the 3-shard root (leaves: 1 + 2 + 3, in order).
            let victim = leaves.remove(4);
            let dead = victim.url.clone();
            drop(victim);
            let t = Instant::now();
            let (status, body) = ask(&agent, &roots[2].url, &questions[0].0, false)?;
            let failed_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let (pstatus, partial) = ask(&agent, &roots[2].url, &questions[0].0, true)?;
            let partial_ms = t.elapsed().as_secs_f64() * 1e3;
            println!(
                "\nkilled leaf {dead}: plain question → {status} in {failed_ms:.1} ms ({}); with \"partial\": true → {pstatus} in {partial_ms:.1} ms, partial={}, missing_shards={}",
                body["error"], partial["partial"], partial["missing_shards"]
            );
        }
    }
    Ok(())
}
