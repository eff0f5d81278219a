//! A sharded deployment on loopback: leaves (`AppState::new` over a shard) and a root
//! (`AppState::sharded` over a shard file) answer every question as one collection of all
//! the shards' documents would — same passages, order and scores — and a leaf that dies or
//! hangs gives an error or a partial answer naming it, within the leaf timeout.
//! Model-free (the hashing embedder), so it always runs.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use zoek::service::{AppState, Limits, router};
use zoek::shards::ShardSet;
use zoek_query::text::ingest::RawDocument;
use zoek_query::{
    AskOptions, BuildOptions, Collection, CollectionWriter, Engine, HashEmbedder, RankMode,
    TokenCounting,
};

/// The example corpus, one document per paragraph, so that it splits into shards.
fn paragraphs() -> Vec<RawDocument> {
    let dir = zoek::example::example_corpus_dir();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let mut docs = Vec::new();
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        for (i, para) in text
            .split("\n\n")
            .filter(|p| p.trim().len() > 40)
            .enumerate()
        {
            let metadata = [("page".to_string(), serde_json::json!(stem))].into();
            docs.push(RawDocument::from_text(
                format!("{stem}#{i}"),
                para,
                metadata,
            ));
        }
    }
    docs
}

fn build(dir: &Path, engine: &Engine, docs: Vec<RawDocument>) -> Collection {
    let opts = BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        passage_vectors: true,
        ..BuildOptions::default()
    };
    let mut w = CollectionWriter::open(dir, engine, &opts).unwrap();
    w.add_documents(docs).unwrap();
    w.commit().unwrap();
    Collection::open(dir).unwrap()
}

/// A server on its own runtime: dropping the runtime kills it, connections included.
fn serve(state: AppState) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state);
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (rt, addr)
}

fn ask(addr: SocketAddr, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(format!("http://{addr}/ask"))
        .header("Content-Type", "application/json")
        .send_json(body)
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_json().unwrap_or_default())
}

fn write_shards(path: &Path, leaves: &[String]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::json!(leaves).to_string()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

const QUESTIONS: &[&str] = &[
    "Wat belemmerde de samenwerking?",
    "wantrouwen vanuit het dorp",
    "hoe vinden zorgcoöperaties elkaar?",
    "what hinders cooperation?",
    "gedeelde visie van vrijwilligers en gemeente",
];

#[test]
fn a_root_over_leaves_answers_as_one_collection() {
    let engine = Engine::new(HashEmbedder::default());
    let docs = paragraphs();
    assert!(docs.len() >= 12, "{} paragraphs", docs.len());
    let tmp = tempfile::tempdir().unwrap();
    let all = build(&tmp.path().join("all"), &engine, docs.clone());
    let limits = Limits::default();
    for n in [2usize, 3] {
        let per = docs.len().div_ceil(n);
        let mut leaves = Vec::new();
        let mut urls = Vec::new();
        for (i, chunk) in docs.chunks(per).enumerate() {
            let c = build(
                &tmp.path().join(format!("{n}-{i}")),
                &engine,
                chunk.to_vec(),
            );
            let (rt, addr) = serve(AppState::new(engine.clone(), c, limits));
            leaves.push(rt);
            urls.push(format!("http://{addr}"));
        }
        let file = tmp.path().join(format!("shards-{n}.json"));
        write_shards(&file, &urls);
        let set = ShardSet::open(&file, Duration::from_secs(5), None).unwrap();
        let (_root, root) = serve(AppState::sharded(engine.clone(), set, limits));
        for (mode, centering, doc_prior, demote_questions) in
            RankMode::ALL.into_iter().flat_map(|m| {
                [
                    (m, 0.0, 0.0, false),
                    (m, 0.6, 0.0, false),
                    (m, 0.0, 0.4, false),
                    (m, 0.0, 0.0, true),
                ]
            })
        {
            for q in QUESTIONS {
                let opts = AskOptions {
                    k: 10,
                    mode,
                    centering,
                    doc_prior,
                    demote_questions,
                    ..AskOptions::default()
                };
                let one = all.ask_with(&engine, q, &opts).unwrap().to_json();
                let (status, got) = ask(
                    root,
                    &serde_json::json!({
                        "question": q, "k": 10, "mode": mode.name(), "centering": centering,
                        "doc_prior": doc_prior, "demote_questions": demote_questions
                    }),
                );
                assert_eq!(status, 200, "{got}");
                assert_eq!(got["partial"], false);
                let hits = |v: &serde_json::Value| {
                    v["hits"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|h| (h["doc"].clone(), h["highlight"].clone(), h["text"].clone()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    hits(&one),
                    hits(&got),
                    "{n} shards, {mode}, centering {centering}, doc prior {doc_prior}, demote {demote_questions}: {q}"
                );
                for (a, b) in one["hits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(got["hits"].as_array().unwrap())
                {
                    let (a, b) = (a["score"].as_f64().unwrap(), b["score"].as_f64().unwrap());
                    assert!(
                        (a - b).abs() <= 1e-6,
                        "{n} shards, {mode}, centering {centering}, doc prior {doc_prior}, demote {demote_questions}: {q}: {a} vs {b}"
                    );
                }
                assert!(
                    got["hits"][0]["shard"]
                        .as_str()
                        .unwrap()
                        .starts_with("http://127.0.0.1:")
                );
            }
        }
        if n == 3 {
            // A dead leaf: an error naming it, or a partial answer without it.
            let dead = urls[1].clone();
            leaves.remove(1).shutdown_background();
            let (status, body) = ask(root, &serde_json::json!({"question": QUESTIONS[0]}));
            assert_eq!(status, 502, "{body}");
            assert!(body["error"].as_str().unwrap().contains(&dead), "{body}");
            let (status, body) = ask(
                root,
                &serde_json::json!({"question": QUESTIONS[0], "partial": true}),
            );
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["partial"], true);
            assert_eq!(body["missing_shards"], serde_json::json!([dead]));
            assert!(
                body["hits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|h| h["shard"] != dead)
            );
        }
    }
}

#[test]
fn a_hung_leaf_costs_at_most_the_timeout() {
    let engine = Engine::new(HashEmbedder::default());
    let tmp = tempfile::tempdir().unwrap();
    let docs = paragraphs();
    let c = build(&tmp.path().join("a"), &engine, docs[..6].to_vec());
    let (_leaf, live) = serve(AppState::new(engine.clone(), c, Limits::default()));
    // Accepts connections and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_addr = hung.local_addr().unwrap();
    let file = tmp.path().join("shards.json");
    write_shards(
        &file,
        &[format!("http://{live}"), format!("http://{hung_addr}")],
    );
    let set = ShardSet::open(&file, Duration::from_millis(400), None).unwrap();
    let (_root, root) = serve(AppState::sharded(engine.clone(), set, Limits::default()));
    let started = Instant::now();
    let (status, body) = ask(
        root,
        &serde_json::json!({"question": QUESTIONS[1], "partial": true}),
    );
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["missing_shards"],
        serde_json::json!([format!("http://{hung_addr}")])
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let (status, _) = ask(root, &serde_json::json!({"question": QUESTIONS[1]}));
    assert_eq!(status, 502);
    // A leaf with another model is refused, partial or not.
    let other = Engine::new(HashEmbedder::new(64));
    let c = build(&tmp.path().join("b"), &other, docs[6..9].to_vec());
    let (_other_leaf, other_addr) = serve(AppState::new(other, c, Limits::default()));
    write_shards(
        &file,
        &[format!("http://{live}"), format!("http://{other_addr}")],
    );
    let (status, body) = ask(
        root,
        &serde_json::json!({"question": QUESTIONS[1], "partial": true}),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("model"), "{body}");
    drop(hung);
}
