//! PolicyQA-nl retrieval evaluation, shared by `tests/policyqa.rs` and
//! `examples/policyqa_eval.rs`: 400 Dutch citizen questions over their 400 contexts plus
//! nl-laws paragraphs as distractors; a question is answered at rank r when the r-th
//! distinct document among the ranked passages is its own context.
//!
//! Embeddings are the cost, so they are cached on disk under `target/`, keyed by the
//! model fingerprint and a hash of the (prefix kind, text).

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::Digest;
use zoek_query::{AskOptions, BuildOptions, Collection, Engine, RankMode, TextEmbedder};

/// `../shared/data` as seen from the workspace root (this file is compiled into the
/// zoek-query crate's tests and into the root package's `eval` example).
pub fn shared_data() -> PathBuf {
    workspace_root().join("../shared/data")
}

/// The workspace root: the package's own directory for the root package, two levels up
/// for a crate under `crates/`.
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("crates").is_dir() {
        here.to_path_buf()
    } else {
        here.join("../..")
    }
}

/// One evaluation question.
pub struct Question {
    pub text: String,
    /// Document id of its context.
    pub doc: String,
}

/// The evaluation set: questions, and the corpus as JSON-lines records `(id, text)`.
pub struct EvalSet {
    pub questions: Vec<Question>,
    pub documents: Vec<(String, String)>,
}

/// Loads up to `n_questions` PolicyQA questions with their contexts, and `n_distractors`
/// nl-laws paragraphs of at least 300 characters, taken evenly from the first part of the
/// file so the choice is deterministic. `None` (with the reason) when the data is absent.
pub fn load(n_questions: usize, n_distractors: usize) -> Result<EvalSet, String> {
    let data = shared_data();
    let qa_path = data.join("policyqa-nl/policyqa-train.json");
    let laws_path = data.join("nl-laws/nl_laws_paragraphs.jsonl");
    let qa_text =
        std::fs::read_to_string(&qa_path).map_err(|e| format!("{}: {e}", qa_path.display()))?;
    let qa: serde_json::Value = serde_json::from_str(&qa_text).map_err(|e| e.to_string())?;
    let mut set = EvalSet {
        questions: Vec::new(),
        documents: Vec::new(),
    };
    for article in qa["data"].as_array().ok_or("no data array")? {
        for paragraph in article["paragraphs"].as_array().ok_or("no paragraphs")? {
            if set.questions.len() >= n_questions {
                break;
            }
            let context = paragraph["context"].as_str().ok_or("no context")?;
            let doc = format!("policyqa-{}", set.documents.len());
            set.documents.push((doc.clone(), context.to_string()));
            for qa in paragraph["qas"].as_array().ok_or("no qas")? {
                set.questions.push(Question {
                    text: qa["question"].as_str().ok_or("no question")?.to_string(),
                    doc: doc.clone(),
                });
            }
        }
    }
    if n_distractors > 0 {
        let file = File::open(&laws_path).map_err(|e| format!("{}: {e}", laws_path.display()))?;
        let mut taken = 0usize;
        for (i, line) in BufReader::new(file).lines().enumerate() {
            if taken >= n_distractors {
                break;
            }
            // Every 23rd qualifying line spreads the sample over many laws.
            if i % 23 != 0 {
                continue;
            }
            let line = line.map_err(|e| e.to_string())?;
            let rec: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
            let text = rec["text"].as_str().unwrap_or("");
            if text.chars().count() < 300 {
                continue;
            }
            set.documents.push((
                format!("law-{}", rec["id"].as_str().unwrap_or("?")),
                text.to_string(),
            ));
            taken += 1;
        }
    }
    Ok(set)
}

/// An embedder that remembers vectors on disk (append-only file of `key (16 bytes) ‖ f32 × dim`).
pub struct CachingEmbedder {
    inner: Arc<dyn TextEmbedder>,
    cache: Mutex<HashMap<[u8; 16], Vec<f32>>>,
    file: Mutex<BufWriter<File>>,
    pub hits: Mutex<(usize, usize)>,
}

impl CachingEmbedder {
    pub fn open(inner: Arc<dyn TextEmbedder>, dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let name = zoek_hex(&sha2::Sha256::digest(inner.model_id().as_bytes())[..8]);
        let path = dir.join(format!("{name}-{}.vec", inner.dim()));
        let dim = inner.dim();
        let mut cache = HashMap::new();
        if let Ok(mut f) = File::open(&path) {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)?;
            let record = 16 + dim * 4;
            // A torn last record (interrupted run) is ignored.
            for rec in bytes.chunks_exact(record) {
                let key: [u8; 16] = rec[..16].try_into().expect("16 bytes");
                let v = rec[16..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .collect();
                cache.insert(key, v);
            }
            let whole = bytes.len() / record * record;
            if whole != bytes.len() {
                OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(whole as u64)?;
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            inner,
            cache: Mutex::new(cache),
            file: Mutex::new(BufWriter::new(file)),
            hits: Mutex::new((0, 0)),
        })
    }

    fn key(kind: u8, text: &str) -> [u8; 16] {
        let mut h = sha2::Sha256::new();
        h.update([kind]);
        h.update(text.as_bytes());
        h.finalize()[..16].try_into().expect("16 bytes")
    }

    fn remember(&self, key: [u8; 16], v: &[f32]) {
        let mut file = self.file.lock().unwrap();
        let _ = file.write_all(&key);
        for x in v {
            let _ = file.write_all(&x.to_le_bytes());
        }
    }

    pub fn flush(&self) {
        let _ = self.file.lock().unwrap().flush();
    }
}

fn zoek_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TextEmbedder for CachingEmbedder {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    // Late chunking pools many spans out of one pass; not cached (builds embed each
    // passage once anyway).
    fn embed_late(
        &self,
        passages: &[zoek_query::LatePassage<'_>],
    ) -> zoek_query::Result<Vec<zoek_query::LateVectors>> {
        self.inner.embed_late(passages)
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn embed_query(&self, text: &str) -> zoek_query::Result<Vec<f32>> {
        let key = Self::key(b'q', text);
        if let Some(v) = self.cache.lock().unwrap().get(&key) {
            self.hits.lock().unwrap().0 += 1;
            return Ok(v.clone());
        }
        let v = self.inner.embed_query(text)?;
        self.hits.lock().unwrap().1 += 1;
        self.remember(key, &v);
        self.cache.lock().unwrap().insert(key, v.clone());
        Ok(v)
    }
    fn embed_passages(&self, texts: &[&str]) -> zoek_query::Result<Vec<Vec<f32>>> {
        let keys: Vec<[u8; 16]> = texts.iter().map(|t| Self::key(b'p', t)).collect();
        let mut out: Vec<Option<Vec<f32>>> = {
            let cache = self.cache.lock().unwrap();
            keys.iter().map(|k| cache.get(k).cloned()).collect()
        };
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        {
            let mut hits = self.hits.lock().unwrap();
            hits.0 += texts.len() - missing.len();
            hits.1 += missing.len();
        }
        if !missing.is_empty() {
            let batch: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
            let vectors = self.inner.embed_passages(&batch)?;
            let mut cache = self.cache.lock().unwrap();
            for (&i, v) in missing.iter().zip(vectors) {
                self.remember(keys[i], &v);
                cache.insert(keys[i], v.clone());
                out[i] = Some(v);
            }
            drop(cache);
            self.flush();
        }
        Ok(out.into_iter().map(|v| v.unwrap_or_default()).collect())
    }
    fn count_tokens(&self, text: &str) -> zoek_query::Result<usize> {
        self.inner.count_tokens(text)
    }
}

/// Retrieval metrics over a question set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    pub questions: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub mrr_at_10: f64,
}

impl Metrics {
    /// From the 1-based rank of the right document per question (`None`: not in the list).
    pub fn from_ranks(ranks: &[Option<usize>]) -> Self {
        let n = ranks.len().max(1) as f64;
        let within =
            |k: usize| ranks.iter().filter(|r| r.is_some_and(|r| r <= k)).count() as f64 / n;
        Metrics {
            questions: ranks.len(),
            recall_at_1: within(1),
            recall_at_5: within(5),
            recall_at_10: within(10),
            mrr_at_10: ranks
                .iter()
                .map(|r| match r {
                    Some(r) if *r <= 10 => 1.0 / *r as f64,
                    _ => 0.0,
                })
                .sum::<f64>()
                / n,
        }
    }
}

/// Rank (1-based) of `doc` among the distinct documents of the hits, in order.
pub fn doc_rank(hits: &[zoek_query::Hit], doc: &str) -> Option<usize> {
    let mut seen: Vec<&str> = Vec::new();
    for h in hits {
        if !seen.contains(&h.doc.as_str()) {
            seen.push(&h.doc);
            if h.doc == doc {
                return Some(seen.len());
            }
        }
    }
    None
}

/// Builds the collection for `set` (with passage vectors, exact search) into `out`.
pub fn build(
    engine: &Engine,
    set: &EvalSet,
    work: &Path,
    out: &Path,
) -> zoek_query::Result<zoek_query::BuildStats> {
    build_with(engine, set, work, out, usize::MAX)
}

/// Like [`build`], with an HNSW index when the collection has `hnsw_threshold` sentences or more.
pub fn build_with(
    engine: &Engine,
    set: &EvalSet,
    work: &Path,
    out: &Path,
    hnsw_threshold: usize,
) -> zoek_query::Result<zoek_query::BuildStats> {
    let opts = BuildOptions {
        passage_vectors: true,
        hnsw_threshold,
        ..BuildOptions::default()
    };
    build_opts(engine, set, work, out, &opts)
}

/// Like [`build`], with the given build options.
pub fn build_opts(
    engine: &Engine,
    set: &EvalSet,
    work: &Path,
    out: &Path,
    opts: &BuildOptions,
) -> zoek_query::Result<zoek_query::BuildStats> {
    let corpus = work.join("corpus.jsonl");
    let mut w = BufWriter::new(File::create(&corpus).expect("corpus file"));
    for (id, text) in &set.documents {
        serde_json::to_writer(&mut w, &serde_json::json!({ "id": id, "text": text }))
            .expect("json");
        w.write_all(b"\n").expect("write");
    }
    w.flush().expect("flush");
    drop(w);
    engine.build(&[corpus], out, opts)
}

/// Evaluates one ranking mode.
pub fn evaluate(
    engine: &Engine,
    collection: &Collection,
    set: &EvalSet,
    opts: &AskOptions,
) -> zoek_query::Result<Metrics> {
    Ok(Metrics::from_ranks(&ranks(engine, collection, set, opts)?))
}

/// Each question's [`doc_rank`], in the set's order, with `k` raised as in [`evaluate`].
pub fn ranks(
    engine: &Engine,
    collection: &Collection,
    set: &EvalSet,
    opts: &AskOptions,
) -> zoek_query::Result<Vec<Option<usize>>> {
    // k is raised so that ten distinct documents are there to rank.
    let opts = AskOptions {
        k: opts.k.max(40),
        ..opts.clone()
    };
    set.questions
        .iter()
        .map(|q| {
            Ok(doc_rank(
                &collection.ask_with(engine, &q.text, &opts)?.hits,
                &q.doc,
            ))
        })
        .collect()
}

/// Where the embedding cache lives: `$ZOEK_EVAL_CACHE`, else `<workspace>/target/zoek-eval-cache`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("ZOEK_EVAL_CACHE").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target/zoek-eval-cache"),
    }
}

/// The configurations of the table: the three rankings the issue names, the hybrid as the
/// issue specifies it (sentence→parent dense side), the default hybrid (dense side blended
/// with passage vectors) and RRF.
pub fn variants() -> Vec<(RankMode, &'static str, AskOptions)> {
    let with = |mode, passage_weight| AskOptions {
        mode,
        passage_weight,
        ..AskOptions::default()
    };
    vec![
        (
            RankMode::DenseParagraph,
            "dense paragraphs",
            with(RankMode::DenseParagraph, 0.0),
        ),
        (
            RankMode::SentenceToParent,
            "sentence→parent",
            with(RankMode::SentenceToParent, 0.0),
        ),
        (
            RankMode::Hybrid,
            "hybrid, sentence→parent + BM25",
            with(RankMode::Hybrid, 0.0),
        ),
        (
            RankMode::Hybrid,
            "hybrid default (+ passage vectors)",
            AskOptions::default(),
        ),
        (
            RankMode::Rrf,
            "RRF (+ passage vectors)",
            with(RankMode::Rrf, AskOptions::default().passage_weight),
        ),
    ]
}

/// Search-side latency (question already embedded) over the question set: (p50, p95) in ms.
pub fn search_latency(
    engine: &Engine,
    collection: &Collection,
    set: &EvalSet,
    opts: &AskOptions,
) -> zoek_query::Result<(f64, f64)> {
    let mut ms = Vec::with_capacity(set.questions.len());
    for q in &set.questions {
        let v = engine.embedder().embed_query(&q.text)?;
        let answer = collection.search_embedded(&q.text, &v, opts)?;
        ms.push(answer.timings.total.as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    Ok((at(0.5), at(0.95)))
}
